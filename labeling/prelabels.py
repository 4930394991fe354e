"""What a stage's model says of an item (training/ writes it as Prediction rows): for routing rules
that weigh the model with the crowd, and as the pre-label a worker may start from in stages that
show them. The training app builds on labeling, so its model is looked up by name, not imported."""
from __future__ import annotations

from django.apps import apps

from .routing import ModelOpinion

# Field kinds a prediction can pre-fill: the value the model writes is the schema's answer itself.
PRELABEL_KINDS = {"single_choice", "yes_no_unsure", "number", "brush_mask"}


def model_opinion(*, item_id: int, stage_id: int) -> ModelOpinion | None:
    """The newest prediction of the stage's model for the item, if it has one."""
    Prediction = apps.get_model("training", "Prediction")
    prediction = (Prediction.objects.filter(item_id=item_id, version__spec__stage_id=stage_id)
                  .select_related("version__spec").order_by("-version__number").first())
    if prediction is None:
        return None
    return ModelOpinion(prediction.version.spec.field, prediction.value, prediction.probability)


def prelabel(*, item_id: int, stage_id: int, schema: dict) -> dict | None:
    """The answer a worker may start from: {field: the model's value}, for a field it can pre-fill."""
    opinion = model_opinion(item_id=item_id, stage_id=stage_id)
    if opinion is None:
        return None
    kinds = {field["key"]: field["kind"] for field in schema["fields"]}
    return {opinion.field: opinion.value} if kinds.get(opinion.field) in PRELABEL_KINDS else None
