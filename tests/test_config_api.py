"""The configuration from Python: load_config, and load_executor() reading it."""

from __future__ import annotations

import exechost
import pytest
from exechost import ConfigError, SettingsError
from exechost.config import load_config


def test_defaults_without_file_or_environment(tmp_path):
    config = load_config(cwd=tmp_path, environ={})
    assert config.file is None
    assert config.default_executor == "local"
    assert config.global_parallelism is None
    assert config.executors == {}
    assert config.plugins.autoload and not config.plugins.block
    assert {key: str(value.source) for key, value in config.values.items()} == {
        "executor": "default",
        "journal": "default",
        "parallelism": "default",
        "plugins.autoload": "default",
        "plugins.block": "default",
    }


def test_environment_scheme_reaches_any_key(tmp_path):
    config = load_config(
        cwd=tmp_path,
        environ={
            "EXECHOST_EXECUTOR": "gpu",
            "EXECHOST_PARALLELISM": "6",
            "EXECHOST_EXECUTORS__GPU__BACKEND": "local",
            "EXECHOST_EXECUTORS__GPU__QUEUES": "train,infer",
            "EXECHOST_EXECUTORS__GPU__LOG_DIR": "/tmp/gpu logs",
            "EXECHOST_EXECUTORS__IO__QUEUES": '["io"]',
            "EXECHOST_PLUGINS__AUTOLOAD": "0",
            "EXECHOST_PLUGINS__BLOCK": "a, b",
            "OTHER": "ignored",
            "EXECHOST_TEST_MARKER": "somebody else's",
        },
    )
    assert config.ignored_variables == ("EXECHOST_TEST_MARKER",)
    assert config.default_executor == "gpu"
    assert config.global_parallelism == 6
    gpu = config.executors["gpu"]
    assert (gpu.backend.value, gpu.queues) == ("local", ("train", "infer"))
    assert gpu.settings["log_dir"].value == "/tmp/gpu logs"
    assert config.queue_routes() == {"train": "gpu", "infer": "gpu", "io": "io"}
    assert not config.plugins.autoload
    assert config.plugins.block == {"a", "b"}


def test_file_then_environment_then_options(tmp_path):
    (tmp_path / "exechost.toml").write_text('executor = "sequential"\nparallelism = 2\n')
    from exechost.config import Source, Value

    config = load_config(
        cwd=tmp_path,
        environ={"EXECHOST_PARALLELISM": "3"},
        options={"executor": Value("local", Source("option", "--executor"))},
    )
    assert config.values["executor"].value == "local"
    assert str(config.values["executor"].source) == "command-line option --executor"
    assert config.values["parallelism"].value == 3
    assert str(config.values["parallelism"].source) == "environment variable EXECHOST_PARALLELISM"


def test_pyproject_table_names_its_tables_in_messages(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.exechost.executors.gpu]\nbackend = "local"\nparalelism = 1\n'
    )
    with pytest.raises(ConfigError) as error:
        exechost.load_executor("gpu", config=tmp_path / "pyproject.toml")
    assert f"{tmp_path / 'pyproject.toml'}:3, [tool.exechost.executors.gpu]: unknown key" in str(
        error.value
    )


def test_load_executor_without_a_name_uses_the_configured_one(tmp_path, monkeypatch):
    (tmp_path / "exechost.toml").write_text(
        'executor = "gpu"\nparallelism = 2\n'
        f'[executors.gpu]\nbackend = "local"\nparallelism = 5\nlog_dir = "{tmp_path / "logs"}"\n'
    )
    monkeypatch.chdir(tmp_path)
    executor = exechost.load_executor()
    assert executor.name == "gpu"
    assert executor.parallelism == 2  # the global cap bounds the executor's own
    assert executor.backend.settings.log_dir == str(tmp_path / "logs")
    with executor:
        executor.queue_command("hi", ["echo", "hi"])
    assert (tmp_path / "logs" / "hi.log").read_text() == "hi\n"


def test_explicit_arguments_override_the_configuration(tmp_path):
    config = tmp_path / "custom.toml"
    config.write_text('parallelism = 2\n[executors.local]\nlog_dir = "from-file"\n')
    executor = exechost.load_executor(config=config)
    assert executor.parallelism == 2
    assert executor.backend.settings.log_dir == "from-file"
    executor = exechost.load_executor(config=config, parallelism=7, log_dir="explicit")
    assert executor.parallelism == 7
    assert executor.backend.settings.log_dir == "explicit"


def test_explicit_bad_settings_are_still_settings_errors(tmp_path):
    with pytest.raises(SettingsError, match="unknown setting 'bogus'") as error:
        exechost.load_executor("local", config=load_config(cwd=tmp_path, environ={}), bogus=1)
    assert not isinstance(error.value, ConfigError)


def test_errors_in_arguments_name_the_argument_not_the_file(tmp_path):
    file = tmp_path / "exechost.toml"
    file.write_text('[executors.local]\nlog_dir = "logs"\n')
    config = load_config(file, cwd=tmp_path, environ={})
    with pytest.raises(SettingsError) as error:
        exechost.load_executor("local", config=config, log_directory="x")
    assert str(error.value).startswith(
        "argument log_directory of load_executor: invalid settings for executor 'local': "
        "unknown setting 'log_directory' (did you mean 'log_dir'?). Valid settings: "
    )
    assert str(file) not in str(error.value)
    with pytest.raises(SettingsError, match=r"^argument log_dir of load_executors: .* got int 3"):
        exechost.load_executors(config, log_dir=3)
    # a bad value in the file and one in an argument: each problem says where it came from
    file.write_text("[executors.local]\nlog_dir = 3\n")
    config = load_config(file, cwd=tmp_path, environ={})
    with pytest.raises(SettingsError) as error:
        exechost.load_executor("local", config=config, log_directory="x")
    assert str(error.value).startswith(
        "invalid settings for executor 'local': argument log_directory of load_executor: unknown "
        f"setting 'log_directory' (did you mean 'log_dir'?); {file}, [executors.local]: setting "
        "'log_dir' must be str | None, got int 3. Valid settings: "
    )


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        exechost.load_executor(config=tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"from \$EXECHOST_CONFIG\) does not exist"):
        load_config(cwd=tmp_path, environ={"EXECHOST_CONFIG": "nope.toml"})


def test_misspelt_or_malformed_variables_are_errors(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(
            cwd=tmp_path,
            environ={"EXECHOST_EXECUTERS": "x", "EXECHOST_EXECUTORS__GPU": "1"},
        )
    message = str(error.value)
    assert "EXECHOST_EXECUTERS: unknown key 'executers' (did you mean 'executors'?)" in message
    assert "EXECHOST_EXECUTORS__GPU: not a configuration key; use EXECHOST_KEY" in message
