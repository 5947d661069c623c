import chaosrunner


def test_public_api_is_pinned():
    assert sorted(chaosrunner.__all__) == sorted([
        "ChaosRunnerError", "ConfigError", "DriverError", "Experiment", "LoadError", "PlanError", "ProbeError",
        "RevertFailed", "RunAborted", "RunResult", "__version__", "load_experiment", "plan", "recover", "run",
        "run_plan", "validate"])
    for name in chaosrunner.__all__:
        assert hasattr(chaosrunner, name)


def test_error_tree_and_exit_codes():
    from chaosrunner import errors

    for cls in (errors.ConfigError, errors.PlanError, errors.DriverError, errors.ProbeError, errors.LoadError,
                errors.RunAborted, errors.RevertFailed):
        assert issubclass(cls, errors.ChaosRunnerError)
    assert errors.ConfigError("x").exit_code == 2 and errors.RunAborted("x").exit_code == 3
    assert errors.RevertFailed("x").exit_code == 4


def test_schema_command_prints_a_json_schema():
    import json

    from support import run_cli

    r = run_cli("schema")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and "Experiment" in doc["$defs"] and "NetworkFault" in doc["$defs"]
    inv = json.loads(run_cli("schema", "--inventory").stdout)
    assert "targets" in inv["properties"]
