import pytest

from comfy.validation import DEFAULT_OPEN_ENUMS, load_schemas, validate_graph
from comfy.workflows import build_studio_image_workflow


@pytest.fixture
def studio_graph():
    return build_studio_image_workflow("a cat", "", 1, 512, 512)


def only_error(result, node_id):
    [error] = result.node_errors[node_id]["errors"]
    return error


def test_shipped_schemas_cover_both_reference_graphs(reference_graph):
    schemas = load_schemas()
    for name in ("z_image_turbo.api.json", "flux_fill_inpaint.api.json"):
        for node in reference_graph(name).values():
            assert node["class_type"] in schemas
    for common in ("EmptyLatentImage", "CheckpointLoaderSimple", "LoraLoader"):
        assert common in schemas


def test_reference_graphs_pass_validation(schemas, reference_graph):
    studio = validate_graph(reference_graph("z_image_turbo.api.json"), schemas)
    inpaint = validate_graph(
        reference_graph("flux_fill_inpaint.api.json"), schemas, input_files={"probe.png"}
    )

    assert (studio.ok, studio.error, studio.node_errors) == (True, None, {})
    assert (inpaint.ok, inpaint.error, inpaint.node_errors) == (True, None, {})


def test_unknown_class_type_is_an_invalid_prompt_with_no_node_errors(schemas):
    result = validate_graph({"1": {"class_type": "NoSuchNode", "inputs": {}}}, schemas)

    assert not result.ok
    assert result.as_response() == {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because node NoSuchNode does not exist.",
            "details": "Node ID '#1'",
            "extra_info": {},
        },
        "node_errors": {},
    }


def test_node_without_class_type_is_an_invalid_prompt(schemas):
    result = validate_graph({"7": {"inputs": {}}}, schemas)

    assert result.error["type"] == "invalid_prompt"
    assert result.error["message"] == (
        "Cannot execute because a node is missing the class_type property."
    )
    assert result.error["details"] == "Node ID '#7'"


def test_graph_without_output_node_has_no_outputs(schemas):
    result = validate_graph({"1": {"class_type": "VAELoader", "inputs": {}}}, schemas)

    assert result.error == {
        "type": "prompt_no_outputs",
        "message": "Prompt has no outputs",
        "details": "",
        "extra_info": {},
    }
    assert result.node_errors == {}


def test_missing_required_input_is_reported_like_comfyui(schemas):
    graph = {"3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}}

    result = validate_graph(graph, schemas)

    assert result.error["type"] == "prompt_outputs_failed_validation"
    assert result.error["message"] == "Prompt outputs failed validation"
    assert result.error["extra_info"] == {}
    assert result.node_errors == {
        "3": {
            "errors": [
                {
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": "images",
                    "extra_info": {"input_name": "images"},
                }
            ],
            "dependent_outputs": ["3"],
            "class_type": "SaveImage",
        }
    }


def test_upstream_error_is_reported_on_that_node_with_its_dependent_output(schemas, studio_graph):
    studio_graph["9"]["inputs"]["steps"] = 0

    result = validate_graph(studio_graph, schemas)

    assert not result.ok
    assert list(result.node_errors) == ["9"]
    assert result.node_errors["9"]["class_type"] == "KSampler"
    assert result.node_errors["9"]["dependent_outputs"] == ["11"]
    assert only_error(result, "9")["type"] == "value_smaller_than_min"
    assert only_error(result, "9")["message"] == "Value 0 smaller than min of 1"
    assert only_error(result, "9")["details"] == "steps"


def test_value_above_max_is_value_bigger_than_max(schemas, studio_graph):
    studio_graph["8"]["inputs"]["width"] = 20000

    error = only_error(validate_graph(studio_graph, schemas), "8")

    assert error["type"] == "value_bigger_than_max"
    assert error["message"] == "Value 20000 bigger than max of 16384"
    assert error["extra_info"]["received_value"] == 20000


def test_enum_value_outside_list_is_value_not_in_list(schemas, studio_graph):
    studio_graph["9"]["inputs"]["scheduler"] = "fancy"

    error = only_error(validate_graph(studio_graph, schemas), "9")

    assert error["type"] == "value_not_in_list"
    assert error["message"] == "Value not in list"
    assert error["details"].startswith("scheduler: 'fancy' not in ['simple',")


def test_long_enum_lists_are_summarised_like_comfyui(schemas, studio_graph):
    studio_graph["9"]["inputs"]["sampler_name"] = "magic"

    error = only_error(validate_graph(studio_graph, schemas), "9")

    assert error["details"].startswith("sampler_name: 'magic' not in (list of length ")
    assert error["extra_info"]["input_config"] is None


def test_model_file_enums_are_open_by_default(schemas, studio_graph):
    studio_graph["1"]["inputs"]["unet_name"] = "only_on_this_server.safetensors"
    studio_graph["3"]["inputs"]["vae_name"] = "another.safetensors"

    assert "unet_name" in DEFAULT_OPEN_ENUMS
    assert validate_graph(studio_graph, schemas).ok


def test_model_file_enums_are_checked_when_not_configured_open(schemas, studio_graph):
    studio_graph["1"]["inputs"]["unet_name"] = "only_on_this_server.safetensors"

    result = validate_graph(studio_graph, schemas, open_enums=frozenset())

    assert only_error(result, "1")["type"] == "value_not_in_list"


def test_non_model_enums_stay_closed(schemas, studio_graph):
    studio_graph["2"]["inputs"]["type"] = "not_a_clip_type"

    assert only_error(validate_graph(studio_graph, schemas), "2")["type"] == "value_not_in_list"


def test_value_that_cannot_be_converted_is_invalid_input_type(schemas, studio_graph):
    studio_graph["9"]["inputs"]["steps"] = "many"

    error = only_error(validate_graph(studio_graph, schemas), "9")

    assert error["type"] == "invalid_input_type"
    assert error["message"] == "Failed to convert an input value to a INT value"
    assert error["details"].startswith("steps, many, invalid literal")


def test_link_to_output_of_wrong_type_is_return_type_mismatch(schemas, studio_graph):
    studio_graph["10"]["inputs"]["vae"] = ["1", 0]

    error = only_error(validate_graph(studio_graph, schemas), "10")

    assert error["type"] == "return_type_mismatch"
    assert error["message"] == "Return type mismatch between linked nodes"
    assert error["details"] == "vae, received_type(MODEL) mismatch input_type(VAE)"
    assert error["extra_info"]["linked_node"] == ["1", 0]


def test_link_to_missing_node_is_reported_on_the_linking_node(schemas, studio_graph):
    studio_graph["10"]["inputs"]["vae"] = ["99", 0]

    result = validate_graph(studio_graph, schemas)

    error = only_error(result, "10")
    assert error["type"] == "exception_during_inner_validation"
    assert error["details"] == "'99'"
    assert result.node_errors["10"]["dependent_outputs"] == ["11"]


def test_link_to_missing_output_slot_is_an_error(schemas, studio_graph):
    studio_graph["10"]["inputs"]["vae"] = ["3", 5]

    error = only_error(validate_graph(studio_graph, schemas), "10")

    assert error["type"] == "exception_during_inner_validation"
    assert error["details"] == "tuple index out of range"


def test_bad_link_on_output_node_itself_is_exception_during_validation(schemas, studio_graph):
    studio_graph["11"]["inputs"]["images"] = ["42", 0]

    assert only_error(validate_graph(studio_graph, schemas), "11")["type"] == (
        "exception_during_validation"
    )


def test_link_that_is_not_a_pair_is_bad_linked_input(schemas, studio_graph):
    studio_graph["10"]["inputs"]["vae"] = ["3", 0, 1]

    assert only_error(validate_graph(studio_graph, schemas), "10")["type"] == "bad_linked_input"


def test_load_image_of_missing_file_fails_custom_validation(schemas, reference_graph):
    graph = reference_graph("flux_fill_inpaint.api.json")
    graph["4"]["inputs"]["image"] = "does_not_exist.png"

    result = validate_graph(graph, schemas, input_files={"probe.png"})

    assert only_error(result, "4") == {
        "type": "custom_validation_failed",
        "message": "Custom validation failed for node",
        "details": "image - Invalid image file: does_not_exist.png",
        "extra_info": {"input_name": "image"},
    }
    assert result.node_errors["4"]["class_type"] == "LoadImage"


def test_load_image_is_not_checked_against_schema_enum_or_files_when_files_unknown(
    schemas, reference_graph
):
    graph = reference_graph("flux_fill_inpaint.api.json")
    graph["4"]["inputs"]["image"] = "uploaded_elsewhere.png"

    assert validate_graph(graph, schemas).ok


def test_partial_failure_keeps_good_outputs_and_reports_bad_ones(schemas, studio_graph):
    studio_graph["20"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}

    result = validate_graph(studio_graph, schemas)

    assert result.ok
    assert result.outputs == ["11"]
    assert result.node_errors["20"]["errors"][0]["type"] == "required_input_missing"


def test_non_dict_graph_is_rejected(schemas):
    assert not validate_graph([], schemas).ok


def test_dependency_cycle_is_rejected_instead_of_recursing_forever(schemas, studio_graph):
    studio_graph["5"]["inputs"]["model"] = ["5", 0]

    result = validate_graph(studio_graph, schemas)

    assert not result.ok
    assert "cycle" in result.node_errors["5"]["errors"][0]["details"]
