# nhn-cloud-proxy image: the proxy on port 8900. Settings: mount a TOML file and set
# NHN_PROXY_CONFIG, or use NHN_PROXY_<SECTION>_<KEY> environment variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY proxy ./proxy
COPY plugins ./plugins
COPY emulator ./emulator
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system --no-create-home proxy
USER proxy
EXPOSE 8900
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8900/healthz', timeout=2)" || exit 1
ENTRYPOINT ["nhn-proxy"]
CMD ["serve"]
