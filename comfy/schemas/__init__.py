"""Node schemas (``object_info.json``) shipped with the package; see ``comfy.validation``."""
