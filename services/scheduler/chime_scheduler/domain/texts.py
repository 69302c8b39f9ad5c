# ruff: noqa: RUF001 (Ukrainian text and typographic arrows are meant)
"""What the scheduler says to people, in English and Ukrainian (the chat's language).

The date in each line comes from `chime_schedules.next_line`, shared with the api.
"""

from __future__ import annotations

from chime_schedules import language_of

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "created": "✅ Scheduled #{number}: {text}\n{next}",
        "created_topic": "✅ Scheduled #{number} for the subscribers of {topic}: {text}\n{next}",
        "rejected": "⚠️ I could not schedule that: {reason}.",
        "change_rejected": "⚠️ I could not {action} {ref}: {reason}.",
        "paused": "⏸ Paused #{number}.",
        "resumed": "▶️ Resumed #{number}.\n{next}",
        "cancelled": "🗑 Cancelled #{number}.",
        "reminder_cancelled": "🗑 Cancelled reminder {ref}.",
        "reminder_confirmed": "⏰ Got it. I'll remind you at {when} ({zone}): {text}",
        "updated": "✏️ Updated #{number}.\n{next}",
        "no_schedule": "there is no schedule {ref} in this chat (send /list to see yours)",
        "broadcast_new": "there is no broadcast {ref}",
        "broadcast_finished": "broadcast {ref} has already finished",
        "broadcast_cancelled": "broadcast {ref} was already cancelled",
        "subscribed": "🔔 Subscribed to {topic}.",
        "already_subscribed": "You follow {topic} already.",
        "unsubscribed": "🔕 Unsubscribed from {topic}.",
        "not_subscribed": "You do not follow {topic}.",
        "list_title": "Your schedules, page {page} of {pages}:",
        "list_empty": "You have no schedules yet. Try /every weekday 8:30 stand-up.",
        "topics_title": "Your topics, page {page} of {pages}:",
        "topics_empty": "You follow no topics yet. Try /subscribe news.",
        "paused_mark": "⏸ paused",
        "back": "‹ Back",
        "more": "More ›",
        "snooze": "💤 15 min",
        "snooze_hour": "💤 1 hour",
    },
    "uk": {
        "created": "✅ Заплановано #{number}: {text}\n{next}",
        "created_topic": "✅ Заплановано #{number} для підписників {topic}: {text}\n{next}",
        "rejected": "⚠️ Не вдалося запланувати: {reason}.",
        "change_rejected": "⚠️ Не вдалося змінити {ref}: {reason}.",
        "paused": "⏸ #{number} на паузі.",
        "resumed": "▶️ #{number} знову працює.\n{next}",
        "cancelled": "🗑 #{number} скасовано.",
        "reminder_cancelled": "🗑 Нагадування {ref} скасовано.",
        "reminder_confirmed": "⏰ Гаразд, нагадаю {when} ({zone}): {text}",
        "updated": "✏️ #{number} змінено.\n{next}",
        "no_schedule": "у цьому чаті немає розкладу {ref} (надішліть /list, щоб побачити свої)",
        "broadcast_new": "розсилки {ref} немає",
        "broadcast_finished": "розсилка {ref} вже завершилася",
        "broadcast_cancelled": "розсилку {ref} вже скасовано",
        "subscribed": "🔔 Ви підписалися на {topic}.",
        "already_subscribed": "Ви вже підписані на {topic}.",
        "unsubscribed": "🔕 Ви відписалися від {topic}.",
        "not_subscribed": "Ви не підписані на {topic}.",
        "list_title": "Ваші розклади, сторінка {page} з {pages}:",
        "list_empty": "У вас ще немає розкладів. Спробуйте /every weekday 8:30 stand-up.",
        "topics_title": "Ваші теми, сторінка {page} з {pages}:",
        "topics_empty": "Ви ще не підписані на теми. Спробуйте /subscribe news.",
        "paused_mark": "⏸ пауза",
        "back": "‹ Назад",
        "more": "Далі ›",
        "snooze": "💤 15 хв",
        "snooze_hour": "💤 1 год",
    },
}


def say(key: str, language: str | None, **values: object) -> str:
    """The text `key` in the chat's language (English when it has none we speak)."""
    return _TEXTS[language_of(language)][key].format(**values)
