import copy

import pytest

from comfy.validation import validate_graph
from comfy.workflows import (
    WORKFLOWS,
    LoraSpec,
    UnknownWorkflow,
    build_flux_inpaint_workflow,
    build_studio_image_workflow,
    get_workflow,
)

REFERENCE_PROMPT = "portrait of a woman on a beach at sunset"


def studio(**kwargs):
    args = {"prompt": REFERENCE_PROMPT, "negative_prompt": "", "seed": 42, "width": 1024}
    args["height"] = 1024
    args.update(kwargs)
    return build_studio_image_workflow(**args)


def test_studio_graph_with_lora_equals_reference_graph(reference_graph):
    graph = studio(lora=LoraSpec("example_character.safetensors", 0.8))

    assert graph == reference_graph("z_image_turbo.api.json")


def test_studio_graph_without_lora_feeds_unet_straight_into_model_sampling(reference_graph):
    expected = reference_graph("z_image_turbo.api.json")
    del expected["4"]
    expected["5"]["inputs"]["model"] = ["1", 0]

    graph = studio()

    assert graph == expected
    assert all(node["class_type"] != "LoraLoaderModelOnly" for node in graph.values())


@pytest.mark.parametrize("lora", [None, LoraSpec("example_character.safetensors", 1.0)])
def test_studio_graph_validates_against_shipped_schemas(schemas, lora):
    result = validate_graph(studio(lora=lora), schemas)

    assert result.ok, result.as_response()
    assert result.node_errors == {}
    assert result.outputs == ["11"]


@pytest.mark.parametrize(("width", "height"), [(1000, 1024), (1024, 1030), (0, 1024), (8, 16)])
def test_studio_rejects_sizes_that_are_not_positive_multiples_of_16(width, height):
    with pytest.raises(ValueError, match="multiple of 16"):
        studio(width=width, height=height)


def test_studio_passes_size_seed_steps_cfg_and_model_names_through():
    graph = studio(
        seed=7,
        width=832,
        height=1216,
        steps=6,
        cfg=1.0,
        unet_name="other_unet.safetensors",
        clip_name="other_clip.safetensors",
        vae_name="other_vae.safetensors",
        filename_prefix="ryla/pack",
    )

    assert graph["8"]["inputs"] == {"width": 832, "height": 1216, "batch_size": 1}
    assert graph["9"]["inputs"]["seed"] == 7
    assert graph["9"]["inputs"]["steps"] == 6
    assert graph["1"]["inputs"]["unet_name"] == "other_unet.safetensors"
    assert graph["2"]["inputs"]["clip_name"] == "other_clip.safetensors"
    assert graph["3"]["inputs"]["vae_name"] == "other_vae.safetensors"
    assert graph["11"]["inputs"]["filename_prefix"] == "ryla/pack"


def test_studio_negative_prompt_is_not_encoded_at_cfg_1():
    graph = studio(negative_prompt="blurry, extra fingers", cfg=1.0)

    assert graph["9"]["inputs"]["negative"] == ["7", 0]
    assert "blurry, extra fingers" not in str(graph)


def test_studio_negative_prompt_is_encoded_and_wired_when_cfg_above_1(schemas):
    graph = studio(negative_prompt="blurry", cfg=2.5)

    assert graph["9"]["inputs"]["negative"] == ["12", 0]
    assert graph["12"] == {
        "class_type": "CLIPTextEncode",
        "inputs": {"clip": ["2", 0], "text": "blurry"},
    }
    assert validate_graph(graph, schemas).ok


def test_flux_inpaint_graph_equals_reference_graph(reference_graph):
    graph = build_flux_inpaint_workflow("add a coffee cup in her hand", "", "probe.png", 7)

    assert graph == reference_graph("flux_fill_inpaint.api.json")


def test_flux_inpaint_composites_decoded_result_over_original_through_mask():
    graph = build_flux_inpaint_workflow("x", "", "probe.png", 1)

    composite = graph["12"]
    assert composite["class_type"] == "ImageCompositeMasked"
    assert composite["inputs"]["destination"] == ["4", 0]
    assert composite["inputs"]["source"] == ["11", 0]
    assert composite["inputs"]["mask"] == ["4", 1]
    assert graph["13"]["inputs"]["images"] == ["12", 0]


def test_flux_inpaint_graph_validates_when_image_is_uploaded(schemas):
    graph = build_flux_inpaint_workflow("x", "bad hands", "probe (1).png", 3, steps=12)

    assert validate_graph(graph, schemas, input_files={"probe (1).png"}).ok
    assert graph["6"]["inputs"]["text"] == "bad hands"
    assert graph["4"]["inputs"]["image"] == "probe (1).png"


def test_flux_inpaint_requires_an_image_filename():
    with pytest.raises(ValueError):
        build_flux_inpaint_workflow("x", "", "", 1)


def test_builders_return_fresh_graphs_each_call():
    first = studio()
    snapshot = copy.deepcopy(first)
    first["9"]["inputs"]["seed"] = 999

    assert studio() == snapshot


def test_registry_maps_names_to_builders():
    assert set(WORKFLOWS) == {"studio_image", "flux_inpaint"}
    assert get_workflow("studio_image") is build_studio_image_workflow
    assert get_workflow("flux_inpaint") is build_flux_inpaint_workflow


def test_unknown_workflow_name_raises_keyerror_naming_the_known_ones():
    with pytest.raises(KeyError) as excinfo:
        get_workflow("sdxl_magic")

    assert isinstance(excinfo.value, UnknownWorkflow)
    assert "sdxl_magic" in str(excinfo.value)
    assert "studio_image" in str(excinfo.value)
