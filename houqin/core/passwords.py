"""Password validators whose messages Django 5.2 leaves untranslated in Chinese."""

from django.contrib.auth import password_validation


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django 5.2's "too short" message uses a msgid that its zh_Hans catalogue does not translate."""

    def get_error_message(self):
        return f"密码太短，至少需要 {self.min_length} 个字符。"

    def get_help_text(self):
        return f"密码至少需要 {self.min_length} 个字符。"
