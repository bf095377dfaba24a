from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from opply.identity.models import User


@admin.register(User)
class OpplyUserAdmin(UserAdmin):
    list_display = ("username", "email", "company_name", "is_staff", "is_active", "date_joined")
    readonly_fields = ("public_id",)
    fieldsets = (*UserAdmin.fieldsets, ("Opply", {"fields": ("public_id", "company_name")}))
