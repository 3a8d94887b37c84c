import apex
