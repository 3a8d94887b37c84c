from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/predict")
def predict():
    return jsonify(ok=True)
