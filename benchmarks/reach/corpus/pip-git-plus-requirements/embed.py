import clip
