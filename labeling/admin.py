from django.contrib import admin

from .models import Assignment, Item, LabelSchema

admin.site.register(Item)
admin.site.register(Assignment)
admin.site.register(LabelSchema)
