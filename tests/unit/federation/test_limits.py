"""Token buckets (ADR 0017): the rate, the burst, the wait they announce, and their keys."""

from __future__ import annotations

import pytest

from accord.federation.limits import Budget, RateLimited, address_key
from accord.federation.transport import retry_after


def test_a_burst_is_taken_then_the_rate_applies() -> None:
    budget = Budget(rate=2, burst=3)
    assert [budget.wait("a", 0.0) for _ in range(3)] == [None, None, None]
    assert budget.wait("a", 0.0) == pytest.approx(0.5)  # one token comes back in 1/rate
    assert budget.wait("a", 0.5) is None
    assert budget.wait("b", 0.5) is None  # another key has its own bucket


def test_an_idle_bucket_refills_up_to_the_burst_only() -> None:
    budget = Budget(rate=10, burst=2)
    budget.wait("a", 0.0)
    budget.wait("a", 0.0)
    assert budget.wait("a", 3600.0) is None
    assert budget.wait("a", 3600.0) is None
    assert budget.wait("a", 3600.0) is not None


def test_charge_over_budget_raises_with_a_retry_after_header() -> None:
    budget = Budget(rate=0.5, burst=1)
    budget.charge("vn-mps-247", "participant", now=0.0)
    with pytest.raises(RateLimited, match="participant vn-mps-247 is over its budget") as caught:
        budget.charge("vn-mps-247", "participant", now=0.0)
    assert caught.value.http_status == 429
    assert caught.value.headers == {"retry-after": "2"}


def test_only_so_many_buckets_are_kept() -> None:
    budget = Budget(rate=1, burst=1, tracked=2)
    for key in ("a", "b", "c"):
        budget.wait(key, 0.0)
    assert budget.wait("a", 0.0) is None  # evicted: a fresh, full bucket
    assert budget.wait("c", 0.0) is not None  # kept: still empty


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("127.0.0.2", "127.0.0.2"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same /64: one budget
        ("not-an-address", "not-an-address"),
    ],
)
def test_an_ipv6_address_draws_on_its_64(host: str, key: str) -> None:
    assert address_key(host) == key


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("0", 0.0), ("86400", 3600.0), (None, None), ("", None), ("9" * 5000, None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("-1", None), ("1.5", None)],
)  # fmt: skip
def test_retry_after_is_read_as_bounded_delay_seconds(
    value: str | None, seconds: float | None
) -> None:
    assert retry_after(value) == seconds
