"""Texts the hub itself sends (the assistant's own texts live in its domain). Placeholders are filled by
`notice(name, language, **values)`."""

from __future__ import annotations

NOTICES: dict[str, dict[str, str]] = {
    "bot_unavailable": {
        "en": "Sorry, our assistant is unavailable right now. Someone from our team will reply here shortly.",
        "zh": "抱歉，智能助手暂时无法回复。我们的客服人员会尽快在这里回复您。",
    },
    "queued": {
        "en": "You're number {position} in line for a member of our team (about {minutes} min).",
        "zh": "您当前排在第 {position} 位，预计等待约 {minutes} 分钟，客服人员会尽快为您服务。",
    },
    "queued_unknown_wait": {
        "en": "You're number {position} in line. Our team is busy or offline right now; "
        "we'll answer here as soon as someone is free.",
        "zh": "您当前排在第 {position} 位。客服人员正忙或暂未上线，有人空闲时会第一时间在这里回复您。",
    },
    "connecting": {
        "en": "Connecting you with a member of our team now.",
        "zh": "正在为您转接人工客服，请稍候。",
    },
    # The REST channel's answer while a person owns (or is about to own) the chat: REST clients see only
    # the webhook's answer, so without it a customer's message would seem to vanish. Not stored.
    "passed_to_team": {
        "en": "Your message has been passed to the team.",
        "zh": "已转达给客服。",
    },
    # A photo while the assistant has the chat: it cannot look at pictures, so it says where the photo went
    # (the agent's card, if the case reaches a person) instead of guessing at "[photo]".
    "photo_received": {
        "en": "Thanks, the photo is saved with this conversation, and our team will see it if your case "
        "is passed to them. I can't look at pictures myself: tell me in a few words what it shows.",
        "zh": "照片已保存在本次对话中，如转交人工客服，客服会看到它。"
        "我无法查看图片，请用文字简单描述一下照片里的问题。",
    },
    "photo_saved": {
        "en": "(Your photo is saved with this conversation for our team.)",
        "zh": "（照片已保存在本次对话中，供客服查看。）",
    },
    "agent_joined": {
        "en": "{name} from our support team has joined the chat.",
        "zh": "客服 {name} 已接入，为您服务。",
    },
    "survey_question": {
        "en": "Thanks for chatting with us. How would you rate the help you got, "
        "from 1 (poor) to 5 (excellent)?",
        "zh": "感谢您的咨询！请为本次服务打分：1（很差）到 5（非常满意）。",
    },
    "survey_thanks": {
        "en": "Thank you for your feedback! I'm here if you need anything else.",
        "zh": "感谢您的评价！如还有其他问题，随时告诉我。",
    },
    "ticket_offer": {
        "en": "Sorry for the wait. We've opened ticket {ticket} for you and will reply here (or by email) "
        "as soon as possible; you can close this chat, nothing will be lost.",
        "zh": "抱歉让您久等了。我们已为您创建工单 {ticket}，会尽快在这里（或通过邮件）回复您，"
        "您可以先关闭对话，消息不会丢失。",
    },
    "left_queue": {
        "en": "You've left the queue. We've kept your request as ticket {ticket} and will reply here (or by "
        "email); write again any time to continue.",
        "zh": "您已退出排队。我们已将您的问题记录为工单 {ticket}，会在这里（或通过邮件）回复您；"
        "如需继续咨询，随时发消息即可。",
    },
    "out_of_hours": {
        "en": "Our team is offline right now. We've opened ticket {ticket} and will reply here (or by "
        "email) when we're back; you can close this chat, nothing will be lost.",
        "zh": "客服人员目前不在线。我们已为您创建工单 {ticket}，上班后会在这里（或通过邮件）回复您，"
        "您可以先关闭对话，消息不会丢失。",
    },
}


def notice(key: str, language: str, **values: object) -> str:
    texts = NOTICES[key]
    return texts.get(language, texts["en"]).format(**values)
