"""A port that has done only part of the demo's API: the users list, and one route of its own."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/api/users/")
async def users() -> list[dict[str, int]]:
    return []


@app.get("/api/extra/{item_id}/")
async def extra(item_id: int) -> dict[str, int]:
    return {"id": item_id}
