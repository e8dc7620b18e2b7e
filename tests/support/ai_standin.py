"""The AI stand-in; it lives in testkit so the benchmarks can use the same frames and answers."""

from testkit.ai_standin import MAX_PHOTOS as MAX_PHOTOS
from testkit.ai_standin import AiStandIn as AiStandIn
from testkit.ai_standin import answer as answer
from testkit.ai_standin import default_answer as default_answer
from testkit.ai_standin import no_item_jpeg_b64 as no_item_jpeg_b64
from testkit.ai_standin import tiny_jpeg_b64 as tiny_jpeg_b64
from testkit.ai_standin import tiny_png as tiny_png
