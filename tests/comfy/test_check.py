"""comfy.check: what a server lacks for the builders' graphs, and where its schemas differ."""

from __future__ import annotations

import copy

import pytest

from comfy.check import lora_files, schema_differences, schema_for_shipping, server_check
from comfy.validation import load_schemas
from comfy.workflows import LoraSpec, build_flux_inpaint_workflow, build_studio_image_workflow


@pytest.fixture
def graphs():
    return {
        "studio_image": build_studio_image_workflow(
            "p", "", 1, 64, 64, 2, lora=LoraSpec("example_character.safetensors", 0.8)
        ),
        "flux_inpaint": build_flux_inpaint_workflow("p", "", "in.png", 1, 2),
    }


@pytest.fixture
def live():
    """A server like the one the schemas were taken from, with our model files and LoRA."""
    schemas = copy.deepcopy(dict(load_schemas()))
    schemas["LoraLoaderModelOnly"]["input"]["required"]["lora_name"][0] = [
        "example_character.safetensors"
    ]
    return schemas


def test_a_matching_server_is_ok_and_agrees_with_the_shipped_schema(live, graphs):
    report = server_check(live, graphs, shipped=load_schemas())
    assert report.ok, report
    assert report.schema_differences == []
    assert "ImageCompositeMasked" in report.node_types


def test_a_missing_node_is_named_with_the_graph_that_needs_it(live, graphs):
    del live["ImageCompositeMasked"]
    report = server_check(live, graphs)
    assert not report.ok
    assert report.missing_nodes == ["ImageCompositeMasked (node 12 of flux_inpaint)"]
    assert "flux_inpaint" not in report.rejected  # not validated without its nodes


def test_a_missing_model_file_is_named_with_what_the_server_has(live, graphs):
    live["VAELoader"]["input"]["required"]["vae_name"][0] = ["other_vae.safetensors"]
    report = server_check(live, graphs)
    assert not report.ok
    assert report.missing_models == [
        "VAELoader.vae_name = 'ae.safetensors' (studio_image); the server has: "
        "other_vae.safetensors",
        "VAELoader.vae_name = 'ae.safetensors' (flux_inpaint); the server has: "
        "other_vae.safetensors",
    ]


def test_a_refused_value_is_reported_with_comfyuis_words(live, graphs):
    live["KSampler"]["input"]["required"]["sampler_name"][0] = ["euler"]
    report = server_check(live, graphs)
    assert list(report.rejected) == ["studio_image"]
    assert "Value not in list" in report.rejected["studio_image"][0]


def test_schema_differences_name_the_input_and_both_sides(live, graphs):
    live["KSampler"]["input"]["required"]["steps"][1]["max"] = 100
    live["SaveImage"]["input"]["required"]["quality"] = ["INT", {}]
    del live["FluxGuidance"]["input"]["required"]["guidance"]
    differences = schema_differences(load_schemas(), live, graphs)
    assert any(d.startswith("KSampler.steps:") and "'max': 100" in d for d in differences)
    assert "SaveImage.quality: required on the server, unknown here" in differences
    assert "FluxGuidance.guidance: not on the server" in differences


def test_the_shipping_form_drops_help_texts_and_keeps_what_validation_needs(live):
    live["KSampler"]["description"] = "Uses the provided model..."
    live["KSampler"]["input"]["required"]["steps"][1]["tooltip"] = "The number of steps"
    shipped = schema_for_shipping(live, ["KSampler", "NoSuchNode"])
    assert list(shipped) == ["KSampler"]
    assert "description" not in shipped["KSampler"]
    assert "tooltip" not in shipped["KSampler"]["input"]["required"]["steps"][1]
    assert "tooltip" in live["KSampler"]["input"]["required"]["steps"][1]  # not mutated
    assert shipped["KSampler"]["input"] == load_schemas()["KSampler"]["input"]


@pytest.mark.parametrize(
    "spec",
    [
        [["b.safetensors", "a.safetensors"], {}],
        ["COMBO", {"options": ["b.safetensors", "a.safetensors"]}],
    ],
    ids=["list", "combo"],
)
def test_lora_files_reads_both_shapes_of_the_lora_loader_schema(spec):
    info = {"LoraLoader": {"input": {"required": {"lora_name": spec}}}}
    assert lora_files(info) == ["a.safetensors", "b.safetensors"]
    assert lora_files({}) == []
