from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CONCURRENTLY: building the index on a large answer table must not block the answers coming in.
    atomic = False

    dependencies = [
        ("labeling", "0005_answer_prelabel"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="answer",
            index=models.Index(fields=["created_at"], name="answer_created_at"),
        ),
    ]
