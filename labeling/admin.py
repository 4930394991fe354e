from django.contrib import admin

from .models import Assignment, Item

admin.site.register(Item)
admin.site.register(Assignment)
