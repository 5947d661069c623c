from chaosrunner.cli.main import main

main()
