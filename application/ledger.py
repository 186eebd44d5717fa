"""The grievance ledger (台账): one row per case, Chinese headers and labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from application.read_model import Row

LABELS: dict[str, dict[str, str]] = {
    "category": {
        "employment": "就业",
        "housing": "住房",
        "environment": "环境卫生",
        "safety": "治安安全",
        "neighbour_dispute": "邻里纠纷",
        "social_assistance": "社会救助",
        "education": "教育",
        "health": "医疗卫生",
        "facilities": "公共设施",
        "policy": "政策",
        "other": "其他",
    },
    "urgency": {"emergency": "特急", "urgent": "加急", "normal": "一般", "complex": "疑难复杂"},
    "channel": {
        "visit": "走访",
        "walk_in": "来访",
        "hotline": "热线",
        "online": "网络",
        "opinion_box": "意见箱",
        "wechat": "微信群",
    },
    "status": {
        "filed": "已登记",
        "assigned": "已派单",
        "in_progress": "办理中",
        "resolved": "已办结",
        "closed": "已销号",
        "withdrawn": "已撤回",
        "merged": "已合并",
    },
    "level": {"grid": "网格", "community": "社区", "township": "乡镇", "county": "县"},
    "outcome": {"resolved": "已解决", "explained": "解释说明", "not_supported": "不予支持"},
    "rating": {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"},
    "feedback_via": {"callback": "电话或上门回访", "resident_link": "群众扫码或短信自评"},
}

HEADERS = [
    "案件编号",
    "社区",
    "网格",
    "户编号",
    "类别",
    "紧急程度",
    "来源渠道",
    "诉求摘要",
    "受理时间",
    "登记时间",
    "响应时限",
    "办结时限",
    "是否延期",
    "层级",
    "承办人",
    "接单时间",
    "办结时间",
    "办理结果",
    "群众评价",
    "是否解决",
    "评价方式",
    "返工次数",
    "督办次数",
    "当前状态",
    "政策版本",
    "超时记录",
    "超期上报次数",
]


@dataclass(frozen=True)
class Ledger:
    headers: list[str]
    rows: list[list[Any]]
    # Events the read models behind the ledger could not fold (0 normally).
    unfolded_events: int = 0


def ledger_of(
    cases: list[Row],
    accounts: dict[str, Row],
    local: Callable[[int | None], str | None],
    unfolded_events: int = 0,
) -> Ledger:
    def label(kind: str, value: str | None) -> str:
        return "" if value is None else LABELS[kind].get(value, value)

    def yes_no(value: int | None) -> str:
        return "" if value is None else ("是" if value else "否")

    def assignee(account_id: str | None) -> str:
        account = accounts.get(account_id or "")
        return account["display_name"] if account else ""

    def missed(case: Row) -> str:
        """The deadlines the watcher recorded as missed: 响应超时, 办结超期 (twice if extended too)."""
        parts = ["响应超时"] * case["respond_missed"] + ["办结超期"] * case["resolve_missed"]
        return "、".join(parts)

    rows = [
        [
            case["id"],
            case["community_id"],
            case["grid_id"],
            case["household_id"],
            label("category", case["category"]),
            label("urgency", case["urgency"]),
            label("channel", case["channel"]),
            case["summary"],
            local(case["received_at"]) or "",
            local(case["filed_at"]) or "",
            local(case["respond_by"]) or "",
            local(case["resolve_by"]) or "",
            yes_no(case["extended"]),
            label("level", case["level"]),
            assignee(case["assignee_id"]),
            local(case["accepted_at"]) or "",
            local(case["resolved_at"]) or "",
            label("outcome", case["outcome"]),
            label("rating", case["rating"]),
            yes_no(case["solved"]),
            label("feedback_via", case["feedback_via"]),
            case["reopen_count"],
            case["urged"],
            label("status", case["status"]),
            case["policy_version"],
            missed(case),
            case["auto_escalations"],
        ]
        for case in cases
    ]
    return Ledger(HEADERS, rows, unfolded_events)
