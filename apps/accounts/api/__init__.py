"""The accounts API by resource: auth (sign-in and tokens), me (the signed-in user), contact (email and phone
changes). apps/accounts/urls.py routes them."""
