from django.urls import path

from assistant import views

app_name = "assistant"

urlpatterns = [
    path("api/help/", views.help_view, name="help"),
    path("api/help/stream/", views.help_stream_view, name="help-stream"),
    path("api/feedback/", views.feedback_view, name="feedback"),
    path("api/widget-hits/", views.widget_hits_view, name="widget-hits"),
    path("api/health/", views.health_view, name="health"),
    path("metrics", views.metrics_view, name="metrics"),
    path("docs/<slug:slug>/", views.doc_view, name="doc"),
]
