class AutoModelForSequenceClassificationWithAnExtremelyLongName:
    @classmethod
    def from_pretrained(cls, name, **kw):
        return f'loaded {name}'
