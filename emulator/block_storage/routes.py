"""Block Storage's URL table (paths after ``/{region}/block-storage``): nothing routed yet,
so every call answers 501."""

from nhn_proxy.emulator.base import Router

router = Router()
