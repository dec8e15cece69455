"""The TAXII 2.1 HTTP surface (Starlette). The only place HTTP status codes exist.

Every response carries ``Content-Type: application/taxii+json;version=2.1``; every error
is a TAXII error resource (``title``, ``http_status`` as a string, ``description``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tisa.api.auth import Authenticator, Busy, parse_basic
from tisa.api.bodies import BodyTooLarge, BodyUnreadable, read_body
from tisa.api.paging import BadNextToken
from tisa.api.service import CollectionInfo, PageResult, TaxiiNode
from tisa.api.stix_input import InvalidStix, MalformedRequest
from tisa.api.timestamps import format_timestamp
from tisa.errors import Conflict, Denied, InvalidInput, NotFound, TisaError
from tisa.store.ports import StatusRecord, StoredObject, UserRecord

TAXII_MEDIA: Final = "application/taxii+json;version=2.1"
STIX_MEDIA: Final = "application/stix+json;version=2.1"
API_ROOT: Final = "/api/"
REALM: Final = 'Basic realm="tisa", charset="UTF-8"'
RETRY_AFTER_SECONDS: Final = 1

log = logging.getLogger("tisa.api")

Handler = Callable[[Request, UserRecord], Awaitable[Response]]


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        description: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return raw_response(json.dumps(data, ensure_ascii=False), status, headers)


def raw_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    all_headers = {"Content-Type": TAXII_MEDIA, **(headers or {})}
    return Response(content=body.encode("utf-8"), status_code=status, headers=all_headers)


def error_response(
    status: int, title: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    all_headers = {"WWW-Authenticate": REALM} if status == 401 else {}
    all_headers.update(headers or {})
    return json_response(
        {"title": title, "http_status": str(status), "description": description},
        status,
        all_headers,
    )


def _accepts_taxii(accept: str | None) -> bool:
    if accept is None or not accept.strip():
        return True
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        media = media.lower()
        if media in ("*/*", "application/*"):
            return True
        if media != "application/taxii+json":
            continue
        versions = [p.split("=", 1)[1].strip() for p in params if p.lower().startswith("version=")]
        if not versions or "2.1" in versions:
            return True
    return False


def _is_taxii_content(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, *params = (p.strip() for p in content_type.split(";"))
    if media.lower() != "application/taxii+json":
        return False
    versions = [p.split("=", 1)[1].strip() for p in params if p.lower().startswith("version=")]
    return not versions or versions == ["2.1"]


class TaxiiApp:
    def __init__(
        self,
        *,
        node: TaxiiNode,
        authenticator: Authenticator,
        title: str,
        max_content_length: int,
        as_of: date | None = None,
    ) -> None:
        self.as_of = as_of
        self.node = node
        self.auth = authenticator
        self.title = title
        self.max_content_length = max_content_length

    # -- plumbing ----------------------------------------------------------------------

    def endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                if not _accepts_taxii(request.headers.get("accept")):
                    raise HttpError(
                        406,
                        "Not Acceptable",
                        "this server answers application/taxii+json;version=2.1 only",
                    )
                user = await self._user(request)
                return await handler(request, user)
            except HttpError as exc:
                return error_response(exc.status, exc.title, exc.description, exc.headers)
            except (MalformedRequest, BadNextToken) as exc:
                return error_response(400, "Bad Request", exc.diagnostics())
            except InvalidStix as exc:
                return error_response(422, "Unprocessable Content", exc.diagnostics())
            except InvalidInput as exc:
                return error_response(400, "Bad Request", exc.diagnostics())
            except NotFound as exc:
                return error_response(404, "Not Found", exc.diagnostics())
            except Denied as exc:
                return error_response(403, "Forbidden", exc.diagnostics())
            except Conflict as exc:
                return error_response(409, "Conflict", exc.diagnostics())
            except TisaError:
                log.exception("request failed: %s %s", request.method, request.url.path)
                return error_response(500, "Internal Server Error", "the node failed; see its log")

        return run

    async def _user(self, request: Request) -> UserRecord:
        credentials = parse_basic(request.headers.get("authorization"))
        if credentials is None:
            raise HttpError(401, "Unauthorized", "HTTP Basic credentials are required")
        user = self.auth.cached(*credentials)  # on the loop: never behind a busy pool
        if user is None:
            try:
                with self.auth.slot():
                    user = await run_in_threadpool(self.auth.verify, *credentials)
            except Busy:
                raise HttpError(
                    503,
                    "Service Unavailable",
                    "too many logins are being checked at once; retry shortly",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                ) from None
        if user is None:
            raise HttpError(401, "Unauthorized", "unknown user or wrong password")
        return user

    def _collection(self, request: Request) -> CollectionInfo:
        return self.node.collection(request.path_params["collection_id"])

    async def _body(self, request: Request) -> bytes:
        try:
            return await read_body(request, self.max_content_length)
        except BodyTooLarge:
            raise self._too_large() from None
        except BodyUnreadable as exc:
            raise HttpError(400, "Bad Request", str(exc)) from None

    def _too_large(self) -> HttpError:
        return HttpError(
            413,
            "Content Too Large",
            f"the body exceeds max_content_length ({self.max_content_length} bytes); "
            "post fewer objects per request",
        )

    # -- endpoints ---------------------------------------------------------------------

    async def discovery(self, request: Request, user: UserRecord) -> Response:
        root = str(request.base_url).rstrip("/") + API_ROOT
        return json_response(
            {
                "title": self.title,
                "description": "tisa node: TAXII 2.1 for this party's analysts"
                + (
                    f"; SIMULATED DATE: routes are decided as if on {self.as_of.isoformat()}"
                    if self.as_of
                    else ""
                ),
                "default": root,
                "api_roots": [root],
            }
        )

    async def api_root(self, request: Request, user: UserRecord) -> Response:
        return json_response(
            {
                "title": self.title,
                "versions": [TAXII_MEDIA],
                "max_content_length": self.max_content_length,
            }
        )

    def _collection_resource(self, info: CollectionInfo, user: UserRecord) -> dict[str, Any]:
        access = self.node.access(user, info)
        return {
            "id": info.id,
            "title": info.title,
            "description": info.description,
            "can_read": access.can_read,
            "can_write": access.can_write,
            "media_types": [STIX_MEDIA],
        }

    async def collections(self, request: Request, user: UserRecord) -> Response:
        return json_response(
            {"collections": [self._collection_resource(c, user) for c in self.node.collections]}
        )

    async def collection(self, request: Request, user: UserRecord) -> Response:
        return json_response(self._collection_resource(self._collection(request), user))

    async def status(self, request: Request, user: UserRecord) -> Response:
        record = await run_in_threadpool(self.node.status, user, request.path_params["status_id"])
        return json_response(status_resource(record))

    async def _page(
        self, request: Request, user: UserRecord, mode: Any, object_id: str | None = None
    ) -> PageResult:
        info = self._collection(request)
        params = list(request.query_params.multi_items())
        return await run_in_threadpool(
            lambda: self.node.read_page(user, info, params, mode=mode, object_id=object_id)
        )

    async def get_objects(self, request: Request, user: UserRecord) -> Response:
        if request.method == "POST":
            return await self.add_objects(request, user)
        return _envelope(await self._page(request, user, "objects"))

    async def get_object(self, request: Request, user: UserRecord) -> Response:
        object_id = request.path_params["object_id"]
        if request.method == "DELETE":
            info = self._collection(request)
            params = list(request.query_params.multi_items())
            await run_in_threadpool(self.node.delete_object, user, info, object_id, params)
            return raw_response("", 200)
        return _envelope(await self._page(request, user, "object", object_id))

    async def versions(self, request: Request, user: UserRecord) -> Response:
        result = await self._page(request, user, "versions", request.path_params["object_id"])
        data: dict[str, Any] = {"more": result.page.more}
        if result.next_token:
            data["next"] = result.next_token
        if result.page.objects:
            data["versions"] = [_version_of(o) for o in result.page.objects]
        return json_response(data, headers=_added_headers(result.page.objects))

    async def manifest(self, request: Request, user: UserRecord) -> Response:
        result = await self._page(request, user, "manifest")
        data: dict[str, Any] = {"more": result.page.more}
        if result.next_token:
            data["next"] = result.next_token
        if result.page.objects:
            data["objects"] = [
                {
                    "id": o.object_id,
                    "date_added": format_timestamp(o.date_added_us),
                    "version": _version_of(o),
                    "media_type": STIX_MEDIA,
                }
                for o in result.page.objects
            ]
        return json_response(data, headers=_added_headers(result.page.objects))

    async def add_objects(self, request: Request, user: UserRecord) -> Response:
        info = self._collection(request)
        if not self.node.access(user, info).can_write:
            raise HttpError(403, "Forbidden", f"you may not add objects to {info.title}")
        if not _is_taxii_content(request.headers.get("content-type")):
            raise HttpError(
                415,
                "Unsupported Media Type",
                "post a TAXII envelope as Content-Type: application/taxii+json;version=2.1",
            )
        raw = await self._body(request)
        record = await run_in_threadpool(self.node.add_objects, user, info, raw)
        return json_response(status_resource(record), 202)

    def app(self) -> Starlette:
        e = self.endpoint
        root = API_ROOT
        objects = root + "collections/{collection_id}/objects/"
        obj = objects + "{object_id}/"
        routes = [
            Route("/taxii2/", e(self.discovery), methods=["GET"]),
            Route(root, e(self.api_root), methods=["GET"]),
            Route(root + "status/{status_id}/", e(self.status), methods=["GET"]),
            # taxii2-client asks for the status URL without its trailing slash.
            Route(root + "status/{status_id}", e(self.status), methods=["GET"]),
            Route(root + "collections/", e(self.collections), methods=["GET"]),
            Route(root + "collections/{collection_id}/", e(self.collection), methods=["GET"]),
            Route(
                root + "collections/{collection_id}/manifest/",
                e(self.manifest),
                methods=["GET"],
            ),
            Route(objects, e(self.get_objects), methods=["GET", "POST"]),
            Route(obj, e(self.get_object), methods=["GET", "DELETE"]),
            Route(obj + "versions/", e(self.versions), methods=["GET"]),
        ]

        async def not_found(request: Request, exc: Exception) -> Response:
            return error_response(404, "Not Found", f"no TAXII endpoint at {request.url.path}")

        async def not_allowed(request: Request, exc: Exception) -> Response:
            allow = (getattr(exc, "headers", None) or {}).get("Allow")
            return error_response(
                405,
                "Method Not Allowed",
                f"{request.method} is not allowed" + (f"; use {allow}" if allow else ""),
                {"Allow": allow} if allow else None,
            )

        async def crashed(request: Request, exc: Exception) -> Response:
            log.error("unhandled error on %s %s: %r", request.method, request.url.path, exc)
            return error_response(500, "Internal Server Error", "the node failed; see its log")

        return Starlette(
            routes=routes,
            exception_handlers={404: not_found, 405: not_allowed, 500: crashed},
        )


def status_resource(record: StatusRecord) -> dict[str, Any]:
    by_state: dict[str, list[dict[str, str]]] = {"success": [], "failure": [], "pending": []}
    for e in record.entries:  # one pass (a client may poll a large status often)
        detail = {"id": e.object_id, "version": e.version or format_timestamp(0)}
        if e.message:
            detail["message"] = e.message
        by_state[e.state].append(detail)
    data: dict[str, Any] = {
        "id": record.id,
        "status": "pending" if by_state["pending"] else "complete",
        "request_timestamp": format_timestamp(record.request_timestamp_us),
        "total_count": len(record.entries),
        "success_count": len(by_state["success"]),
        "failure_count": len(by_state["failure"]),
        "pending_count": len(by_state["pending"]),
    }
    for state, key in (("success", "successes"), ("failure", "failures"),
                       ("pending", "pendings")):
        if by_state[state]:
            data[key] = by_state[state]
    return data


def _version_of(o: StoredObject) -> str:
    return o.version if o.version else format_timestamp(o.date_added_us)


def _added_headers(objects: tuple[StoredObject, ...]) -> dict[str, str]:
    if not objects:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_timestamp(objects[0].date_added_us),
        "X-TAXII-Date-Added-Last": format_timestamp(objects[-1].date_added_us),
    }


def _envelope(result: PageResult) -> Response:
    parts = ['{"more":', "true" if result.page.more else "false"]
    if result.next_token:
        parts.append(',"next":' + json.dumps(result.next_token))
    if result.page.objects:
        parts.append(',"objects":[' + ",".join(o.body for o in result.page.objects) + "]")
    parts.append("}")
    return raw_response("".join(parts), headers=_added_headers(result.page.objects))
