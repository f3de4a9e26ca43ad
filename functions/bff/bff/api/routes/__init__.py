"""One APIRouter per resource: the product page, the batch of pages, the cart."""
