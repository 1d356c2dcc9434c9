import mailer
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
    from mailer.stores import keys as store

    pool = store.client().connection_pool
    assert pool.connection_kwargs["port"] == int(redis_url.rsplit(":", 1)[1].split("/")[0])
