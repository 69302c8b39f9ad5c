from chime_ingest.settings import IngestSettings
from chime_kit.service import serve

serve("chime_ingest.entrypoints.app:create_app", IngestSettings(), "ingest")
