FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt requirements.lock ./
RUN pip install --no-cache-dir -r requirements.txt -c /app/requirements.lock
COPY . .
CMD ["gunicorn", "app:app"]
