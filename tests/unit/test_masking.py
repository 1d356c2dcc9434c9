from mailer.masking import DEFAULT_SENSITIVE, MASK, mask_sensitive


def test_a_sensitive_value_is_masked_and_the_rest_left_alone() -> None:
    context = {"reset_url": "https://app.test/reset?token=secret", "name": "Ann"}
    masked = mask_sensitive(context, DEFAULT_SENSITIVE)
    assert masked == {"reset_url": MASK, "name": "Ann"}
    assert context["reset_url"].endswith("secret")  # the original is untouched


def test_nested_values_are_masked_at_any_depth() -> None:
    context = {"links": [{"verify_url": "https://x.test/v?t=1"}], "user": {"api_key": "k"}}
    masked = mask_sensitive(context, ["verify_url", "api_key"])
    assert masked == {"links": [{"verify_url": MASK}], "user": {"api_key": MASK}}
    assert "t=1" not in repr(masked)
