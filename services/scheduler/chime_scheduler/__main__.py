from chime_kit.service import serve
from chime_scheduler.settings import SchedulerSettings

serve("chime_scheduler.entrypoints.app:create_app", SchedulerSettings(), "scheduler")
