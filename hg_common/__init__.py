"""The shared layer: the contracts between the stages, each owned by one module here.

Every stage may import from hg_common; hg_common imports no stage. Besides the contracts
it holds the basics every stage uses: the NDJSON codec (`ndjson`), the record vocabulary
(`records`), configuration (`config`, `tomllines`, `filesize`, `limits`, `errors`),
logging and progress (`log`, `progress`), locks (`lock`), the exit-code funnel
(`cli_support`, `diskfull`), the sidecar rule (`sidecars`) and the index file
(`indexfile`). See docs/architecture.md "Shared layer".
"""

__version__ = "0.1.0"
