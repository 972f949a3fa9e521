"""Enterprise's error body, ``{"status": 401, "message": "Unauthorized"}``, for every refusal of the API.

Enterprise's clients read the status code; the body is what a person sees. FastAPI's own errors (unknown
route, validation) are reshaped to the same body so that no response of the API has another shape.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    """Enterprise's error body."""

    status: int
    message: str


def documented(*statuses: int) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` of these refusals, each with Enterprise's error body."""
    return {status: {"model": ErrorBody, "description": HTTPStatus(status).phrase} for status in statuses}


AUTHENTICATED = documented(401, 403, 404, 422, 429)  # every route behind a bearer token


class ApiError(HTTPException):
    """A refusal with Enterprise's error body; ``headers`` for WWW-Authenticate or Retry-After."""

    def __init__(self, status: int, message: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message or HTTPStatus(status).phrase, headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": status, "message": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette raises its own HTTPException for unknown routes and methods (FastAPI's subclasses it).
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return error_response(exc.status_code, message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error.get('loc', ()) if p != 'body')}: {error.get('msg', '')}"
            for error in exc.errors()[:5]
        )
        return error_response(422, f"Unprocessable Entity: {problems}")
