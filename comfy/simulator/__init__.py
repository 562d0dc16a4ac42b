"""A ComfyUI simulator: same HTTP/websocket protocol, Pillow pictures instead of models.

It is the embedded default backend for local runs and the backend of the test suite.
Everything it serves says it is a simulator (``/system_stats``, the startup banner, a
label drawn on every image).

It is held to a real ComfyUI 0.3.64 by the contract suite's differential test
(``tests/contract/test_simulator_differential.py``): the same requests go to both and the
answers must have the same status codes, keys, types and event order. What still differs,
and why, is listed in ``KNOWN_DIFFERENCES``; the test can only excuse a difference listed
there.
"""

from .server import BANNER, SimulatorOptions, create_app, run_simulator

KNOWN_DIFFERENCES: dict[str, str] = {
    "no-output-cache": (
        "ComfyUI keeps node outputs between prompts and skips nodes whose inputs did not "
        "change (they are listed in `execution_cached` and send no `executing`); the "
        "simulator runs every node of every prompt, so `execution_cached` is always empty. "
        "Caching would make test timings depend on test order."
    ),
    "no-help-texts": (
        "Validation errors quote the input's schema as `input_config`; ComfyUI's carries a "
        "`tooltip`, the simulator's comes from the shipped object_info.json, from which "
        "help texts are removed. The same goes for `description` in /object_info."
    ),
    "shipped-nodes-only": (
        "The simulator knows the 33 node types of the shipped object_info.json (those the "
        "builders use and their neighbours), a real server several hundred."
    ),
    "model-lists": (
        "Model-file and input-file lists in /object_info are the simulator's own (the "
        "shipped names, its input folder), not the real server's folders."
    ),
    "preview-pictures": (
        "With a preview method (`preview_method`, `--preview-method`), the simulator sends "
        "one JPEG preview per sampler step in ComfyUI's frames and order (PREVIEW_IMAGE, or "
        "PREVIEW_IMAGE_WITH_METADATA to a client that announced supports_preview_metadata), "
        "scaled to fit 512 px as ComfyUI's --preview-size default, but the picture is its "
        "own (the final picture under fading noise) whatever the method. Off by default, as "
        "in ComfyUI."
    ),
    "execution-errors": (
        "An execution error says 'Simulated failure' (or Pillow's own error) with a short "
        "synthetic traceback; the shape is ComfyUI's."
    ),
    "custom-validation": (
        "Beyond the node schemas, only LoadImage's file check is done (ComfyUI nodes may "
        "have their own VALIDATE_INPUTS)."
    ),
    "view-options": "/view ignores `preview` and `channel` and serves the file as stored.",
    "endpoints": (
        "Not served: /upload/mask, /models, /embeddings, /extensions, /view_metadata, "
        "/features, /free, /users, the user data and frontend routes."
    ),
    "system-figures": "Memory and device figures in /system_stats are made up.",
}

__all__ = ["BANNER", "KNOWN_DIFFERENCES", "SimulatorOptions", "create_app", "run_simulator"]
