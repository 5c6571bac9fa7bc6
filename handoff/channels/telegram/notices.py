"""What the channel itself tells the customer in the chat, in English and Chinese: why an update was not
taken as it is (the webhook answers Telegram 200 and sends one of these rather than have it retry), and
that a shared phone number is verified."""

from __future__ import annotations

TEXT_ONLY_NOTICE = "Sorry, I can only read text messages and photos. 抱歉，我目前只能阅读文字消息和图片。"
PHOTO_UNSUPPORTED_NOTICE = (
    "Sorry, I could not open that file. Please send a JPEG, PNG or WebP photo. "
    "抱歉，无法打开该文件，请发送 JPEG、PNG 或 WebP 格式的图片。"
)
PHOTO_TOO_LARGE_NOTICE = (
    "Sorry, that photo is too large (at most {limit} MB), please send a smaller one. "
    "抱歉，图片过大（最多 {limit} MB），请发送较小的图片。"
)
PHOTO_FAILED_NOTICE = (
    "Sorry, I could not receive that photo, please try sending it again. 抱歉，未能接收这张图片，请重新发送。"
)
EXPIRED_BUTTON_NOTICE = "This button has expired, please type your answer. 该按钮已失效，请直接输入。"
PHONE_VERIFIED_NOTICE = "Thank you, your phone number is verified. 谢谢，您的手机号已验证。"
UNREADABLE_TEXT_NOTICE = (
    "Sorry, I could not read that message, please type it again. 抱歉，无法识别这条消息，请重新输入。"
)
TOO_LONG_NOTICE = (
    "Sorry, that message is too long (at most {limit} characters), please shorten it. "
    "抱歉，消息过长（最多 {limit} 个字符），请缩短后再发送。"
)
RATE_LIMITED_NOTICE = (
    "You are sending messages too quickly, please try again in {seconds} s. "
    "您发送消息过于频繁，请 {seconds} 秒后再试。"
)
