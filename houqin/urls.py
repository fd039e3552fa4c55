from django.urls import include, path

from houqin.core.views import auth, pages

urlpatterns = [
    path("", pages.DashboardView.as_view(), name="dashboard"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("org/switch/", pages.OrgSwitchView.as_view(), name="org_switch"),
    path("healthz/", pages.healthz, name="healthz"),
    path("core/", include("houqin.core.urls")),
]
