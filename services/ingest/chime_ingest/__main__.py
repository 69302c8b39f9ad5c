from chime_kit.service import serve

from chime_ingest.settings import IngestSettings

serve("chime_ingest.entrypoints.app:create_app", IngestSettings(), "ingest")
