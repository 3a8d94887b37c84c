import lightgbm as lgb
booster = lgb.Booster(model_file='model.txt')
