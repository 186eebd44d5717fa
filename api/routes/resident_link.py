"""The resident's one-time feedback link (回访): a small Chinese page, no account.

`GET /r/{token}` shows the form, `POST /r/{token}` records the answer with
`via: resident_link`. The token is the credential, so the form carries no CSRF
token; a post from another site's page is refused by its `Origin`. The page
names nothing about the case or the household: whoever holds the link only
sees the questions. A used or expired link is a 410 page.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.state import services_of
from application.errors import ApplicationError, LinkGone, NotFound
from domain.errors import DomainError, InvalidCommand, StateConflict
from domain.vocabulary import Rating

router = APIRouter(prefix="/r", tags=["resident feedback"], include_in_schema=False)

RATINGS = (
    (Rating.SATISFIED, "满意"),
    (Rating.BASICALLY_SATISFIED, "基本满意"),
    (Rating.UNSATISFIED, "不满意"),
)
MAX_COMMENT = 2000
# Pages answer only for this link and are never kept by a shared cache or shown in a referrer.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
STYLE = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0;padding:1.25rem;background:#f6f7f9;color:#1f2328;line-height:1.6}
main{max-width:28rem;margin:0 auto;background:#fff;border-radius:.75rem;padding:1.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.25rem;margin:0 0 1rem}
fieldset{border:0;padding:0;margin:0 0 1.25rem}
legend{font-weight:600;margin-bottom:.5rem}
label{display:block;padding:.6rem .75rem;margin:.35rem 0;border:1px solid #d0d7de;
border-radius:.5rem;font-size:1.05rem}
textarea{width:100%;box-sizing:border-box;min-height:5rem;font:inherit;padding:.5rem;
border:1px solid #d0d7de;border-radius:.5rem}
button{width:100%;padding:.8rem;font-size:1.1rem;border:0;border-radius:.5rem;
background:#1f6feb;color:#fff}
.error{color:#b42318}
"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def form_page(error: str | None = None, status: int = 200) -> HTMLResponse:
    ratings = "".join(
        f'<label><input type="radio" name="rating" value="{rating.value}" required> {text}</label>'
        for rating, text in RATINGS
    )
    warning = f'<p class="error">{escape(error)}</p>' if error else ""
    body = (
        "<h1>办理结果回访</h1>"
        f"{warning}"
        '<form method="post">'
        "<fieldset><legend>您对本次办理结果满意吗？</legend>"
        f"{ratings}</fieldset>"
        "<fieldset><legend>问题解决了吗？</legend>"
        '<label><input type="radio" name="solved" value="true" required> 是</label>'
        '<label><input type="radio" name="solved" value="false" required> 否</label>'
        "</fieldset>"
        "<fieldset><legend>您还想说的（选填）</legend>"
        f'<textarea name="comment" maxlength="{MAX_COMMENT}"></textarea></fieldset>'
        '<button type="submit">提交</button>'
        "</form>"
    )
    return page("办理结果回访", body, status)


def gone_page() -> HTMLResponse:
    return page(
        "链接已失效",
        "<h1>链接已失效</h1><p>此回访链接已使用或已过期，无需再次填写。"
        "如有问题，请联系您的网格员或社区。</p>",
        410,
    )


def not_found_page() -> HTMLResponse:
    return page("链接无效", "<h1>链接无效</h1><p>未找到此回访链接，请核对短信或二维码。</p>", 404)


def thanks_page() -> HTMLResponse:
    return page(
        "感谢您的评价",
        "<h1>感谢您的评价</h1><p>您的意见已记录。我们会继续改进工作。</p>",
    )


def failure_page(error: ApplicationError | DomainError) -> HTMLResponse:
    match error:
        case LinkGone() | StateConflict():
            return gone_page()
        case NotFound():
            return not_found_page()
    raise error


@router.get("/{token}", response_class=HTMLResponse)
def show_form(token: str, request: Request) -> HTMLResponse:
    """The feedback form, or a 410 page when the link was used or has expired."""
    try:
        services_of(request).grievances.check_feedback_link(token)
    except (ApplicationError, DomainError) as error:
        return failure_page(error)
    return form_page()


@router.post("/{token}", response_class=HTMLResponse)
async def answer(token: str, request: Request) -> HTMLResponse:
    """Record the resident's answer once (`via: resident_link`), then thank them."""
    if not same_origin(request):
        return page("无法提交", "<h1>无法提交</h1><p>请从回访链接页面提交。</p>", 403)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    rating = first(fields, "rating")
    solved = first(fields, "solved")
    comment = first(fields, "comment")
    if rating not in {r.value for r, _ in RATINGS} or solved not in ("true", "false"):
        return form_page("请选择满意程度，并回答问题是否解决。", 422)
    if comment is not None and len(comment) > MAX_COMMENT:
        return form_page(f"补充说明请不超过{MAX_COMMENT}字。", 422)
    grievances = services_of(request).grievances
    try:
        await run_in_threadpool(
            grievances.resident_feedback,
            token,
            rating=rating,
            solved=solved == "true",
            comment=comment,
        )
    except InvalidCommand:
        return form_page("填写内容有误，请检查后重新提交。", 422)
    except (ApplicationError, DomainError) as error:
        return failure_page(error)
    return thanks_page()


def first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def same_origin(request: Request) -> bool:
    """A browser names the page a form came from; a post from another site is refused.

    Clients that send no ``Origin`` or an opaque ``null`` one (old browsers, scripts, pages
    sent with ``no-referrer``) pass: the token is the credential.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    host = request.headers.get("host")
    return urlsplit(origin).netloc == host
