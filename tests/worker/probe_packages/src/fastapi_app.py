"""A FastAPI app whose pydantic models validate the request and serialize the answer
(pydantic-core is a compiled extension module)."""

from fastapi import FastAPI
from pydantic import BaseModel, Field

PRICE_CENTS = 250

app = FastAPI()


class Order(BaseModel):
    item: str
    quantity: int = Field(gt=0)


class Receipt(BaseModel):
    item: str
    quantity: int
    total_cents: int


@app.post("/fastapi/orders")
def place_order(order: Order) -> Receipt:
    return Receipt(
        item=order.item, quantity=order.quantity, total_cents=order.quantity * PRICE_CENTS
    )
