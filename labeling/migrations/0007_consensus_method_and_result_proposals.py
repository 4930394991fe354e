import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def keep_existing_stages_on_dawid_skene(apps, schema_editor):
    # Stages made before the setting existed were re-estimated by Dawid-Skene: they keep it, so a
    # deployment changes no running pipeline's consensus; new stages start on "auto".
    apps.get_model("labeling", "Stage").objects.update(consensus_method="ds")


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0006_answer_created_at_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='ResultProposal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('previous', models.JSONField()),
                ('proposed', models.JSONField()),
                ('previous_consensus', models.JSONField(default=dict)),
                ('state', models.CharField(choices=[('in_review', 'In Review'), ('unrouted', 'Unrouted'), ('resolved', 'Resolved')], max_length=16)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('item', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='result_proposals', to='labeling.item')),
                ('review_task', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='labeling.task')),
                ('run', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='proposals', to='labeling.consensusrun')),
                ('task', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='labeling.task')),
            ],
        ),
        migrations.AddField(
            model_name='consensusrun',
            name='selection',
            field=models.JSONField(db_default={}, default=dict),
        ),
        migrations.AddField(
            model_name='routingdecision',
            name='reason',
            field=models.CharField(blank=True, choices=[('', 'Rule'), ('tie', 'Tie'), ('empty', 'Empty'), ('contradicts_vote', 'Contradicts Vote'), ('consensus_changed', 'Consensus Changed')], db_default='', default='', max_length=32),
        ),
        migrations.AddField(
            model_name='stage',
            name='consensus_method',
            field=models.CharField(choices=[('auto', 'Auto'), ('ds', 'Ds'), ('onecoin', 'Onecoin'), ('glad', 'Glad'), ('mace', 'Mace'), ('mv', 'Mv')], db_default='auto', default='auto', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='routingdecision',
            constraint=models.UniqueConstraint(fields=('task', 'round', 'reason'), name='one_decision_per_task_round_reason'),
        ),
        migrations.RemoveConstraint(
            model_name='routingdecision',
            name='one_decision_per_task_round',
        ),
        migrations.RunPython(keep_existing_stages_on_dawid_skene, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='resultproposal',
            index=models.Index(fields=['item', 'state'], name='labeling_re_item_id_5810e0_idx'),
        ),
    ]
