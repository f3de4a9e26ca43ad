import itertools

import pytest

from bench.events import product_details_event
from bench.inprocess import load_handler, product_ids, rss_kib
from tests.support.lambda_context import FakeLambdaContext


@pytest.mark.parametrize("import_path", ["bench.events:product_details_event", "bench.events.product_details_event"])
def test_handler_path_accepts_colon_and_dotted_forms(import_path: str) -> None:
    resolved: object = load_handler(import_path)

    assert resolved is product_details_event


def test_event_is_an_http_api_v2_get_for_the_product() -> None:
    event = product_details_event("abc")

    assert event["version"] == "2.0"
    assert event["rawPath"] == "/product-details/abc"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["pathParameters"] == {"id": "abc"}
    assert event["requestContext"]["requestId"] != product_details_event("abc")["requestContext"]["requestId"]


def test_fake_context_has_a_fresh_request_id_each_time() -> None:
    assert FakeLambdaContext().aws_request_id != FakeLambdaContext().aws_request_id
    assert FakeLambdaContext().get_remaining_time_in_millis() > 0


def test_rss_reads_this_process_resident_memory() -> None:
    assert rss_kib() > 1000


def test_the_contender_asks_for_a_new_product_each_time_unless_told_otherwise() -> None:
    distinct = list(itertools.islice(product_ids(same=False), 100))
    same = list(itertools.islice(product_ids(same=True), 3))
    assert len(set(distinct)) == 100
    assert len(set(same)) == 1
