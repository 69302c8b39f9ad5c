from chime_kit.service import serve
from chime_sender.settings import SenderSettings

serve("chime_sender.entrypoints.app:create_app", SenderSettings(), "sender")
