"""Sign-in and sign-out, with sign-in throttling (houqin.core.throttling)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from houqin.core.throttling import check_login_allowed, client_ip, record_failure, record_success

INVALID_LOGIN = "账号或密码错误，请重新输入。"
INACTIVE_ACCOUNT = "该账号已停用，请联系学校系统管理员。"
LOGGED_OUT = "您已安全退出。"


class LoginForm(AuthenticationForm):
    error_messages = {"invalid_login": INVALID_LOGIN, "inactive": INACTIVE_ACCOUNT}

    password_checked = False  # True once the password was really checked (only then is a failure counted)

    def clean(self):
        self.password_checked = self.cleaned_data.get("username") is not None and bool(
            self.cleaned_data.get("password")
        )
        return super().clean()

    def get_invalid_login_error(self):
        """A disabled account with the right password is told so; anything else is a plain wrong password."""
        user_model = get_user_model()
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is not None and not user.is_active:
            if user.check_password(password):
                return ValidationError(self.error_messages["inactive"], code="inactive")
        else:
            # Hash once more on every other failure too, so response time does not tell disabled accounts apart.
            user_model().set_password(password)
        return ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        self.client_ip = client_ip(request)
        username = request.POST.get("username", "")
        decision = check_login_allowed(username, self.client_ip)
        if not decision:
            form = self.get_form_class()(request, initial={"username": username[:150]})
            response = self.render_to_response(
                self.get_context_data(form=form, throttle_error=decision.message), status=429
            )
            response["Retry-After"] = str(decision.retry_after_s)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        record_success(form.cleaned_data.get("username"), self.client_ip)
        return super().form_valid(form)  # django.contrib.auth.login(): new session key, user_logged_in signal

    def form_invalid(self, form):
        if form.password_checked:
            record_failure(form.cleaned_data.get("username"), self.client_ip)
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    """Sign out by POST only (GET answers 405); back to the sign-in page with a message."""

    def post(self, request, *args, **kwargs):
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:
            messages.success(request, LOGGED_OUT)
        return response
