import os

import mailer
import mailer.api.inbox
import mailer.errors


def test_every_name_in_all_is_importable():
    for name in mailer.__all__:
        assert getattr(mailer, name) is not None, name


def test_every_error_is_exported_from_the_package():
    assert set(mailer.errors.__all__) <= set(mailer.__all__)
    for name in mailer.errors.__all__:
        assert issubclass(getattr(mailer, name), mailer.MailerError)


def test_the_suite_never_talks_to_a_redis_it_did_not_start(redis_url):
    import dramatiq

    import mailer.actors  # noqa: F401

    assert dramatiq.get_broker().client.connection_pool.connection_kwargs["port"] == int(
        redis_url.rsplit(":", 1)[1].split("/")[0]
    )


def test_mailer_state_in_unit_tests_lives_in_the_suites_redis(mailer_settings, redis_url):
    from mailer import settings, stores

    pool = stores.for_settings(settings.current()).client.connection_pool
    assert pool.connection_kwargs["port"] == int(redis_url.rsplit(":", 1)[1].split("/")[0])


def test_importing_mailer_reads_no_settings_and_builds_no_broker():
    """An app imports ``mailer`` in every process, a web server's preload included: that must
    cost no Redis connection and no configuration, even with Redis down."""
    import subprocess
    import sys

    from mailer.embedded_redis import free_port

    script = (
        "import sys, mailer, mailer.errors\n"
        "from mailer import settings\n"
        "loaded = sorted(m for m in ('mailer.actors', 'mailer.broker') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
        "assert settings._current is None, 'settings were read'\n"
        "print('ok')\n"
    )
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MAILER_BACKEND": "no-such-backend",  # reading the settings would fail on it
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n" and result.stderr == ""


def test_no_module_shadows_a_public_function():
    """``from mailer import notifications`` is the function, however many submodules were
    imported since: no submodule of the package takes a public name."""
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(mailer.__path__, "mailer."):
        if module.name.count(".") == 1:
            assert module.name.split(".")[1] not in mailer.__all__, module.name
    importlib.import_module("mailer.actors")
    for name in ("notifications", "notify", "publish", "suppress", "subscribe", "send_email"):
        assert callable(getattr(mailer, name)) and not isinstance(
            getattr(mailer, name), type(mailer)
        )
    from mailer import notifications

    assert notifications is mailer.api.inbox.notifications


def test_every_public_function_is_defined_in_the_api():
    """One name, one place: the package only re-exports what ``mailer.api`` defines."""
    import inspect

    for name in mailer.__all__:
        value = getattr(mailer, name)
        if inspect.isfunction(value):
            assert value.__module__.startswith("mailer.api."), name
