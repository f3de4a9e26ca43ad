from tests.support.browser import browser, healthy_site, reviews_failing_site

__all__ = ["browser", "healthy_site", "reviews_failing_site"]
