"""Support API routes (under /api/v1/): customers and trips to read, tickets, action commands, statistics."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from support import api as support_api
from support import api_stats
from support.views import actions as action_views
from support.views import tickets as ticket_views

# search and record pages (part A)
records_router = SimpleRouter()
records_router.register("customers", support_api.CustomerViewSet, basename="api-customer")
records_router.register("trips", support_api.TripViewSet, basename="api-trip")

# tickets (part B)
tickets_router = SimpleRouter()
tickets_router.register("tickets", ticket_views.TicketViewSet, basename="api-ticket")

urlpatterns: list[URLPattern | URLResolver] = [
    *records_router.urls,
    *tickets_router.urls,
    # support action commands (part B); reverse, reissue, resend, sheets, requests: the invoicing API
    path("actions/customers/<int:pk>/bind/", action_views.CardBindCommand.as_view(), name="api-action-card-bind"),
    path("actions/cards/<int:pk>/unbind/", action_views.CardUnbindCommand.as_view(), name="api-action-card-unbind"),
    path("actions/customers/<int:pk>/titles/", action_views.TitleAddCommand.as_view(), name="api-action-title-add"),
    path(
        "actions/cards/<int:pk>/prepaid-choice/",
        action_views.PrepaidChoiceCommand.as_view(),
        name="api-action-card-prepaid-choice",
    ),
    path(
        "actions/customers/<int:pk>/binding-backdate/",
        action_views.BindingBackdateCommand.as_view(),
        name="api-action-binding-backdate",
    ),
    path(
        "actions/customers/<int:pk>/title-backdate/",
        action_views.TitleBackdateCommand.as_view(),
        name="api-action-title-backdate",
    ),
    # query statistics (查询统计)
    path("statistics/", api_stats.StatisticsView.as_view(), name="api-statistics"),
]
