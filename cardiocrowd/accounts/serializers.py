from rest_framework import serializers

from .models import Membership, Project


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True)

    class Meta:
        model = Project
        fields = ["slug", "name", "created_at", "role", "date_policy", "retain_patient_characteristics",
                  "burned_in_policy", "pixel_mask_rules"]


class ProjectInput(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    date_policy = serializers.ChoiceField(choices=Project.DatePolicy.choices, default=Project.DatePolicy.SHIFT)
    retain_patient_characteristics = serializers.BooleanField(default=False)
    burned_in_policy = serializers.ChoiceField(
        choices=Project.BurnedInPolicy.choices, default=Project.BurnedInPolicy.QUARANTINE
    )
    pixel_mask_rules = serializers.ListField(child=serializers.DictField(), default=list)

    def validate_slug(self, value: str) -> str:
        if Project.objects.filter(slug=value).exists():
            raise serializers.ValidationError("A project with this slug exists.")
        return value

    def validate_pixel_mask_rules(self, rules: list[dict]) -> list[dict]:
        for rule in rules:
            for key in ("x", "y", "width", "height"):
                value = rule.get(key, 0 if key in ("x", "y") else None)
                if value is not None and (not isinstance(value, int) or value < 0):
                    raise serializers.ValidationError(f"Mask rule {key} must be a non-negative integer.")
            if not rule.get("height"):
                raise serializers.ValidationError("Each mask rule needs a height in pixels.")
        return rules


class MembershipOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "senior", "created_at"]


class MembershipInput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    senior = serializers.BooleanField(default=False, help_text="Experts only: may adjudicate between experts")
